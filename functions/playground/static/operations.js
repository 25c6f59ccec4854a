// What the API offers, as the form presents it: each operation's route, image inputs and parameters (names, ranges
// and defaults of layers/imgapi/imgapi/operations.py), and the statuses a job goes through. Data only.

export const TERMINAL = new Set(["completed", "failed", "cancelled"]);
export const STATUS_LABELS = {
  uploading: "Uploading", awaiting_upload: "Awaiting upload", pending: "Pending",
  processing: "Processing", completed: "Completed", failed: "Failed", cancelled: "Cancelled",
};

const ENGINE = {
  name: "engine", label: "Engine", type: "select", value: "",
  options: [["", "Automatic"], ["local", "Local"], ["dashscope", "DashScope"]],
  hint: "Automatic: DashScope where it is configured, else our own worker.",
};
const FORMAT = {
  name: "format", label: "Result format", type: "select", value: "png",
  options: [["png", "PNG"], ["webp", "WebP (lossless, smaller)"], ["avif", "AVIF (lossy, smallest)"]],
};
const BACKGROUND = { name: "bgcolor", label: "Background", type: "background", value: "#ffffff" };
const imagesCount = (value) => ({ name: "n", label: "Images (DashScope; local makes one)", type: "number", min: 1, max: 4, step: 1, value });
const scale = (side) => ({
  name: `${side}_scale`, label: `${side[0].toUpperCase()}${side.slice(1)}`, type: "range",
  min: 1, max: 2, step: 0.05, value: 1.5, show: (v) => `${Number(v).toFixed(2)}×`,
});
const prompt = (value, label) => ({ name: "prompt", label, type: "text", value, maxlength: 800 });

export const OPERATIONS = {
  combo: {
    label: "Cut out + enhance", via: "upload",
    help: "Removes the background, then enlarges and sharpens the cut-out. Files go straight to storage " +
      "(up to 10 MB each); each file is its own job.",
    images: [{ field: "file", label: "Images", required: true, multiple: true }],
    params: [{
      name: "enhance_level", label: "Enhance level", type: "select", value: "medium",
      options: [["light", "Light: 2×, gentle sharpening"], ["medium", "Medium: 2×, denoise and sharpen"],
        ["strong", "Strong: 3×, for small or noisy images"]],
    }, FORMAT, BACKGROUND],
  },
  remove_bg: {
    label: "Remove background", via: "upload", route: "/remove_bg",
    help: "A transparent cut-out of the subject. Files go straight to storage (up to 10 MB each); " +
      "or give the URL of an image.",
    images: [{ field: "image", url: "image_url", label: "Images", required: true, multiple: true }],
    params: [FORMAT, BACKGROUND],
  },
  change_bg: {
    label: "Change background", route: "/change_bg",
    help: "Puts the subject in front of a new background. The local engine needs a background image; " +
      "DashScope can paint one from a prompt.",
    images: [{ field: "base_image", url: "base_image_url", label: "Subject", required: true },
      { field: "ref_image", url: "ref_image_url", label: "New background" }],
    params: [{ name: "ref_prompt", label: "Background prompt (DashScope)", type: "text", value: "", maxlength: 800,
      placeholder: "e.g. a sunny beach" }, imagesCount(1), ENGINE],
  },
  change_cloth: {
    label: "Try on clothes", route: "/change_cloth",
    help: "Dresses the person in the garments (a dress goes in Top). Runs on DashScope only.",
    images: [{ field: "person_image", url: "person_image_url", label: "Person", required: true },
      { field: "top_garment", url: "top_garment_url", label: "Top (or dress)" },
      { field: "bottom_garment", url: "bottom_garment_url", label: "Bottom" }],
    params: [],
  },
  expand: {
    label: "Expand", route: "/expand",
    help: "Extends the canvas: a scale multiplies the distance from the centre to that side (2 on every side " +
      "doubles width and height).",
    images: [{ field: "base_image", url: "base_image_url", label: "Image", required: true }],
    params: [scale("top"), scale("bottom"), scale("left"), scale("right"),
      prompt("按照原来图片背景来操作扩展", "Prompt (DashScope)"), imagesCount(2), ENGINE],
  },
  fix: {
    label: "Fix / upscale", route: "/fix",
    help: "Super-resolution and repair: denoise, enlarge by the factor, sharpen.",
    images: [{ field: "base_image", url: "base_image_url", label: "Image", required: true }],
    params: [{ name: "upscale_factor", label: "Upscale factor", type: "range", min: 1, max: 4, step: 1, value: 1,
      show: (v) => `${v}×` }, prompt("图像超分。", "Prompt (DashScope)"), ENGINE],
  },
};

export function operationLabel(name) {
  return OPERATIONS[name]?.label || name;
}
