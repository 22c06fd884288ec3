"""blobflow.project"""
