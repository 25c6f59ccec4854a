# The combo API's Python example, verbatim from its documentation (shared/seeds/002_*.txt).
import requests
import time

# 1. 登录获取token
login_response = requests.post("http://localhost:8000/api/v1/login", params={
    "username": "test_user",
    "password": "test_password"
})
token = login_response.json()["access_token"]

# 2. 上传图片进行组合处理
with open("portrait.jpg", "rb") as f:
    response = requests.post(
        "http://localhost:8000/api/v1/upscale/combo",
        files={"file": f},
        params={
            "token": token,
            "enhance_level": "medium"
        }
    )
task_id = response.json()["task_id"]

# 3. 等待处理完成
while True:
    status_response = requests.get(
        f"http://localhost:8000/api/v1/upscale/status/{task_id}",
        params={"token": token}
    )
    status = status_response.json()["status"]
    
    if status == "completed":
        break
    elif status == "failed":
        print("处理失败")
        break
    
    time.sleep(5)  # 组合处理需要更长时间

# 4. 下载结果
result_response = requests.get(
    f"http://localhost:8000/api/v1/upscale/result/{task_id}",
    params={"token": token}
)

with open("enhanced_portrait.png", "wb") as f:
    f.write(result_response.content)
