"""POST /change_cloth: dress the person of person_image_url in the given garments (DashScope try-on), as a job."""
from imgapi.api.http_api import lambda_entry
from imgapi.api.image_edits import image_edit_api

app = image_edit_api("change_cloth")
handler = lambda_entry(app)
