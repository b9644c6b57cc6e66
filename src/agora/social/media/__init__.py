"""Media: uploads, image processing, the file store, file access, profile images."""
