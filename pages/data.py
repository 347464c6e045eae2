"""Data: what the set holds, samples of a label, one image by ID."""
import streamlit as st

from julia_core.data import browse
from julia_core.views.figures import class_histogram
from julia_core.errors import EXPECTED_ERRORS, one_line
from julia_core.data.dataset import SOURCE_NAMES
from julia_core.data.images import MODE_NAMES, MODES, SIZES, open_image
from julia_core.data.classes import CLASSES
from julia_core.views.ui import data_dir, dataset_facts, images, open_dataset, page

page("Data")
dataset = open_dataset()
facts = dataset_facts(dataset) if dataset else None
if facts is None:
    st.stop()

st.caption(f"`{data_dir()}`")
train, test, classes = st.columns(3)
train.metric("Labelled train images", facts.train_count)
test.metric("Test images", facts.test_count)
classes.metric("Classes present", f"{facts.classes_present} of {len(facts.class_counts)}")

view = st.radio("Histogram", [browse.ALL_LABELLED, browse.BY_SPLIT], horizontal=True)
figure = class_histogram(browse.split_counts(dataset), by_part=view == browse.BY_SPLIT)
st.plotly_chart(figure, width="stretch")

st.subheader("Samples by label")
left, middle, right, far = st.columns(4)
label = left.selectbox("Label", list(CLASSES), index=CLASSES.index("A"))
size = middle.selectbox("Size", SIZES, index=SIZES.index(28))
mode = right.radio("Colour", MODES, format_func=MODE_NAMES.get, horizontal=True)
source = far.radio("From", dataset.sources("train"), horizontal=True, format_func=SOURCE_NAMES.get)
show_original = st.toggle("Show the original beside each resized image", value=False,
                          disabled="original" not in dataset.sources("train"))
ids = browse.ids_for_label(dataset, label)
per_page = 24
pages = browse.page_count(len(ids), per_page)
number = st.number_input(f"Page (of {pages}; {len(ids)} images labelled '{label}')", 1, pages, 1)
shown, _ = browse.page(ids, number, per_page)
loaded = images(dataset, "train", source, size, mode)
if loaded is not None and shown:
    rows = browse.rows_by_id(loaded)
    columns = st.columns(8 if not show_original else 4)
    for index, image_id in enumerate(shown):
        with columns[index % len(columns)]:
            if show_original:
                pair = st.columns(2)
                pair[0].image(loaded.images[rows[image_id]], caption=f"{image_id}", width="stretch")
                pair[1].image(browse.original_image(dataset, "train", image_id), caption="original",
                              width="stretch")
            else:
                st.image(loaded.images[rows[image_id]], caption=f"{image_id}", width="stretch")

st.subheader("Look up an image by ID")
wanted = st.number_input("ID", min_value=0, value=int(dataset.train_ids[0]), step=1)
try:
    found = browse.find_id(dataset, wanted)
except EXPECTED_ERRORS as err:
    st.error(one_line(err))
else:
    st.write(f"**{found['id']}** · {found['split']} · label **{browse.label_text(found)}**")
    columns = st.columns(len(found["files"]) + 1)
    for column, (source_name, path) in zip(columns, found["files"].items()):
        column.image(open_image(path), caption=f"{source_name}: {path.name}", width=160)
    resized = images(dataset, found["split"], dataset.default_source(found["split"]), size, mode)
    if resized is not None:
        columns[-1].image(resized.images[browse.rows_by_id(resized)[found["id"]]],
                          caption=f"as the model sees it: {size}x{size}", width=160)

st.subheader("Folders: sizes and modes, train beside test")
st.dataframe(browse.folder_frame(facts), hide_index=True, width="stretch")
