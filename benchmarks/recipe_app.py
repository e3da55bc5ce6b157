"""The classic OpenCV k-means colour-quantisation recipe as a Streamlit page, unchanged.

The baseline that benchmarks/bench_app.py measures kseg's dashboard against: every run
decodes the upload and runs cv2.kmeans on every pixel, as the tutorials do.

    python -m streamlit run benchmarks/recipe_app.py
"""

import cv2
import numpy as np
import streamlit as st

st.title("k-means colour segmentation (OpenCV recipe)")
k = st.sidebar.slider("k", min_value=2, max_value=16, value=8, key="k")
uploaded = st.file_uploader("Upload an image", type=["jpg", "jpeg", "png"], key="upload")

if uploaded is not None:
    file_bytes = np.asarray(bytearray(uploaded.read()), dtype=np.uint8)
    img = cv2.imdecode(file_bytes, cv2.IMREAD_COLOR)
    pixels = img.reshape((-1, 3)).astype(np.float32)
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 0.1)
    _, labels, centers = cv2.kmeans(pixels, k, None, criteria, 10, cv2.KMEANS_PP_CENTERS)
    centers = np.uint8(centers)
    segmented = centers[labels.flatten()].reshape(img.shape)
    left, right = st.columns(2)
    left.image(img, channels="BGR", caption="Original")
    right.image(segmented, channels="BGR", caption="Segmented")
