"""Stores: where releases live. ``base`` holds the protocol; file, S3 and GCS implement it.

Only ``s3`` imports boto3 and only ``gcs`` imports google-cloud-storage; each turns its
library's errors into ``StorageError``.
"""

__all__: list[str] = []
