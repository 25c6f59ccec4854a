"""POST /fix: repair and sharpen base_image_url (DashScope super-resolution or the local engine), as a job."""
from imgapi.api.http_api import lambda_entry
from imgapi.api.image_edits import image_edit_api

app = image_edit_api("fix")
handler = lambda_entry(app)
