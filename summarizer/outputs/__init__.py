"""Results out to files: JSON/CSV, images, clips and editor exports."""
