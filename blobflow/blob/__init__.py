"""blobflow.blob"""
