"""blobflow.api"""
