"""The production resource names as the local world creates them, and credentials that reach no account."""

from chalicelib import settings

HOST = "127.0.0.1"
REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # the account moto answers as, whatever the credentials
# boto3 must sign its requests; these can never authenticate against a real account.
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
# Variables that would point boto3 at a real account or profile.
FOREIGN_AWS_VARIABLES = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")

STATS_QUEUE = settings.STATS_QUEUE_NAME
ALERT_TOPIC = settings.ALERT_TOPIC_NAME
BUILD_TABLE = "compiler-builds"
ALERT_STATE_TABLE = "compiler-explorer-alerts"
ARCHIVE_BUCKET = "compiler-explorer-logs"
WEBHOOK_PARAMETER = "/admin/discord_webhook_url"
# The SSM SecureString holding the build watch's GitHub token (its name, not a secret).
GITHUB_TOKEN_PARAMETER = "/admin/github_build_watch_token"  # noqa: S105
WORKFLOWS_REPOSITORY = "compiler-explorer/compiler-workflows"  # where compilers.yaml lives, on branch main
STATS_QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{STATS_QUEUE}"
ALERT_TOPIC_ARN = f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:{ALERT_TOPIC}"


def aws_environment(endpoint: str) -> dict[str, str]:
    """What sends every boto3 call (ours and the app's) to the emulator at ``endpoint``."""
    return {
        **CREDENTIALS,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_ENDPOINT_URL": endpoint,
        # aws-embedded-metrics prints its records instead of looking for a CloudWatch agent.
        "AWS_EMF_ENVIRONMENT": "Local",
    }


def client(service: str, endpoint: str) -> object:
    """A boto3 client for the emulator at ``endpoint``, with the fake credentials."""
    import boto3

    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )
