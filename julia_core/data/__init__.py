"""The data set on disk: the class alphabet, label files, images, the resized-array cache, splits."""
