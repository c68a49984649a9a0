"""Cloud and cluster CLIs: reading their secrets, changing their resources."""

from __future__ import annotations

from task_orchestrator.risk.catalog import rule, text_rule
from task_orchestrator.risk.paths import Finding, _LazyRe
from task_orchestrator.risk.shell import Cmd

RULES = [
    rule(
        "cloud.reads-secrets",
        "high",
        "reads cloud or cluster secrets",
        ["aws secretsmanager get-secret-value --secret-id x", "kubectl get secrets"],
        ["aws s3 ls"],
    ),
    rule(
        "cloud.changes-resources",
        "high",
        "changes cloud or cluster resources",
        ["kubectl delete pod x", "terraform apply"],
        ["kubectl get pods", "terraform plan"],
    ),
    text_rule(
        "cloud.text-metadata-endpoint",
        ["curl http://169.254.169.254/latest/meta-data/"],
        ["curl http://localhost:8080"],
    ),
    text_rule("cloud.text-instances", ["aws ec2 run-instances --image-id x"], ["aws ec2 describe-instances"]),
    text_rule("cloud.text-storage-transfer", ["aws s3 cp x s3://b/"], ["aws s3 ls"]),
    text_rule("cloud.text-control-plane", ["terraform destroy"], ["terraform plan"]),
]


_CLOUD = frozenset(
    {
        "aws",
        "gcloud",
        "az",
        "kubectl",
        "oc",
        "terraform",
        "tofu",
        "pulumi",
        "gsutil",
        "doctl",
        "oci",
        "eksctl",
        "stratus",
        "helm",
        "ibmcloud",
    }
)


_CLOUD_VERB = _LazyRe(
    r"^(?:create|delete|put|update|modify|attach|detach|run|stop|terminate|authorize|revoke|"
    r"remove|add|set|enable|disable|deregister|register|associate|disassociate|import|replace|"
    r"patch|apply|destroy|drain|cordon|scale|exec|cp|sync|mv|rm|rb|mb|deploy|install|"
    r"uninstall|upgrade|rollback|detonate|warmup|reset|rotate|purge|restore|copy|share)"
    r"(?:[-_]|$)"
)


_CLOUD_SECRET = _LazyRe(
    r"^(?:secrets?|get-secret-value|get-parameters?|get-session-token|"
    r"get-credentials|print-access-token|get-login-password|"
    r"list-access-keys|create-access-key|get-password-data|keys)$"
)


def _cloud(cmd: Cmd) -> list[Finding]:
    """Cloud and cluster CLIs: changing resources, or reading their secrets."""
    if cmd.prog not in _CLOUD or any(
        a.startswith(("--dry-run", "--dryrun")) or a == "plan" for a in cmd.args
    ):
        return []
    words = [a for a in cmd.args if not a.startswith("-")][:4]
    if any(_CLOUD_SECRET.match(w) for w in words):
        return [
            ("high", f"reads credentials or keys ({cmd.prog} {' '.join(words[:3])})", "cloud.reads-secrets")
        ]
    if any(_CLOUD_VERB.match(w) for w in words):
        return [
            (
                "high",
                f"changes cloud or cluster resources ({cmd.prog} {' '.join(words[:3])})",
                "cloud.changes-resources",
            )
        ]
    return []
