"""Metrics shared by several methods: reconstruction / denoising and sample quality (FID, KID).

Method-specific scores live with their method (`lrep_zoo.models.dualdis.metrics`).
"""

from lrep_zoo.metrics.disentanglement import beta_vae_score
from lrep_zoo.metrics.disentanglement import dci
from lrep_zoo.metrics.disentanglement import dci_from_importance
from lrep_zoo.metrics.disentanglement import factor_vae_score
from lrep_zoo.metrics.disentanglement import mig
from lrep_zoo.metrics.disentanglement import mutual_information
from lrep_zoo.metrics.disentanglement import sap
from lrep_zoo.metrics.disentanglement import sap_score_matrix
