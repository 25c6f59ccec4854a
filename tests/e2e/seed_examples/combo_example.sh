# The combo API's cURL example, verbatim from its documentation (shared/seeds/002_*.txt).
# 1. 获取token
TOKEN=$(curl -X POST "http://localhost:8000/api/v1/login?username=test_user&password=test_password" | jq -r '.access_token')

# 2. 上传图片进行组合处理
TASK_ID=$(curl -X POST \
  "http://localhost:8000/api/v1/upscale/combo?token=$TOKEN&enhance_level=medium" \
  -F "file=@portrait.jpg" | jq -r '.task_id')

# 3. 查询状态
curl "http://localhost:8000/api/v1/upscale/status/$TASK_ID?token=$TOKEN"

# 4. 下载结果
curl "http://localhost:8000/api/v1/upscale/result/$TASK_ID?token=$TOKEN" -o enhanced_portrait.png
