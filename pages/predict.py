"""Predict: one run or an ensemble on any image (uploaded, a photo, or a train or test ID): the image
as the model sees it, the top classes, and where the model looked (Grad-CAM)."""
import streamlit as st

from julia_core.data.images import open_bytes, to_mode
from julia_core.errors import EXPECTED_ERRORS, one_line
from julia_core.predict.explain import MAX_IMAGES, explain, image_for_id
from julia_core.views.figures import heat_map_figure, top_classes_figure
from julia_core.views.ui import choose_ensemble, open_dataset, run_models, page

UPLOAD, CAMERA, BY_ID = "Upload images", "Take a photo", "A train or test ID"


def chosen_images(source: str, first_config) -> list[tuple[str, object]]:
    """(caption, PIL image) for each image asked for; a bad one is a line, the rest go on."""
    found = []
    if source == UPLOAD:
        files = st.file_uploader("Images (any format and size Pillow reads)", accept_multiple_files=True)
        uploads = [(f.name, f.getvalue()) for f in files or []]
    elif source == CAMERA:
        photo = st.camera_input("Photo of a character")
        uploads = [("photo", photo.getvalue())] if photo else []
    else:
        dataset = open_dataset()
        image_id = st.number_input("ID", min_value=1, value=1, step=1)
        uploads = []
        if dataset:
            try:
                image, caption = image_for_id(dataset, int(image_id), first_config)
                found.append((caption, image))
            except EXPECTED_ERRORS as err:
                st.error(one_line(err))
    if len(uploads) > MAX_IMAGES:
        st.warning(f"{len(uploads)} images: the first {MAX_IMAGES} are shown")
    for name, data in uploads[:MAX_IMAGES]:
        try:
            found.append((name, open_bytes(data, name)))
        except EXPECTED_ERRORS as err:
            st.error(one_line(err))
    return found


page("Predict")
chosen = choose_ensemble("predict")
if not chosen:
    st.info("Pick a run to predict with.")
    st.stop()
models = run_models(chosen)
if models is None:
    st.stop()
source = st.radio("Image", [UPLOAD, CAMERA, BY_ID], horizontal=True)
for index, (caption, image) in enumerate(chosen_images(source, models[0][1])):
    try:
        explanation = explain(models, image)
    except EXPECTED_ERRORS as err:
        st.error(f"{caption}: {one_line(err)}")
        continue
    name, probability = explanation.top[0]
    st.markdown(f"**{caption}**: **{name}** ({probability:.1%})")
    original, seen, top = st.columns([1, 1, 2])
    shown = to_mode(image, "RGB").copy()
    shown.thumbnail((384, 384))  # a 40-megapixel photo is not sent to the browser whole
    original.image(shown, caption=f"as given, {image.width}x{image.height}", width="stretch")
    seen.plotly_chart(heat_map_figure(explanation.seen, explanation.heat), key=f"heat-{index}",
                      width="content")
    members = f" (the {explanation.heat_members} of {len(models)} runs that frame it alike)" \
        if explanation.heat_members < len(models) else ""
    seen.caption(f"as the model sees it ({explanation.seen.shape[0]} px) and where it looked for {name!r}{members}")
    top.plotly_chart(top_classes_figure(explanation.top), key=f"top-{index}", width="stretch")
