"""Which kinds live outside namespaces: the one list the builders and the verifier share."""

from __future__ import annotations

# Built-in kinds that live outside namespaces (``kubectl api-resources --namespaced=false``).
# The CRD kinds' scope comes from their schema: cluster-scoped ones allow no metadata.namespace.
BUILTIN_CLUSTER_SCOPED = frozenset(
    {
        "APIService",
        "CSIDriver",
        "CSINode",
        "CertificateSigningRequest",
        "ClusterRole",
        "ClusterRoleBinding",
        "ClusterTrustBundle",
        "ComponentStatus",
        "CustomResourceDefinition",
        "DeviceClass",
        "FlowSchema",
        "IPAddress",
        "IngressClass",
        "MutatingAdmissionPolicy",
        "MutatingAdmissionPolicyBinding",
        "MutatingWebhookConfiguration",
        "Namespace",
        "Node",
        "PersistentVolume",
        "PriorityClass",
        "PriorityLevelConfiguration",
        "ResourceSlice",
        "RuntimeClass",
        "SelfSubjectAccessReview",
        "SelfSubjectReview",
        "SelfSubjectRulesReview",
        "ServiceCIDR",
        "StorageClass",
        "StorageVersion",
        "StorageVersionMigration",
        "SubjectAccessReview",
        "TokenReview",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "ValidatingWebhookConfiguration",
        "VolumeAttachment",
        "VolumeAttributesClass",
    }
)

# The CRD kinds picluster emits that are cluster-scoped; the verifier checks each against its
# schema in schemas/k8s/ (a cluster-scoped CRD's metadata has no namespace).
CRD_CLUSTER_SCOPED = frozenset({"ClusterSecretStore"})


def cluster_scoped(kind: str) -> bool:
    """Whether objects of ``kind`` take no ``metadata.namespace``."""
    return kind in BUILTIN_CLUSTER_SCOPED or kind in CRD_CLUSTER_SCOPED
