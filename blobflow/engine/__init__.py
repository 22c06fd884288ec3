"""blobflow.engine"""
