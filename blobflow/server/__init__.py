"""blobflow.server"""
