"""Metrics shared by several methods: reconstruction / denoising and sample quality (FID, KID).

Method-specific scores live with their method (`lrep_zoo.models.dualdis.metrics`).
"""
