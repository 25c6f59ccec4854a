"""POST /remove_bg: remove the background of image_url on our own image worker (rembg), as a job."""
from imgapi.api.http_api import lambda_entry
from imgapi.api.image_edits import image_edit_api

app = image_edit_api("remove_bg")
handler = lambda_entry(app)
