"""Cloud and cluster CLIs: reading their secrets, changing their resources."""

from task_orchestrator.risk.catalog import rule, text_rule

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
