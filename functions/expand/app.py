"""POST /expand: extend the canvas of base_image_url on each side (DashScope outpainting or the local engine), as a job."""
from imgapi.api.http_api import lambda_entry
from imgapi.api.image_edits import image_edit_api

app = image_edit_api("expand")
handler = lambda_entry(app)
