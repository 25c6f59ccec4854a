"""POST /change_bg: put the subject of base_image_url in front of a new background (DashScope or the local engine), as a job."""
from imgapi.api.http_api import lambda_entry
from imgapi.api.image_edits import image_edit_api

app = image_edit_api("change_bg")
handler = lambda_entry(app)
