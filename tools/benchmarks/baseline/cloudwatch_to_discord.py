"""The seed's ``cloudwatch_to_discord`` function, re-created: one webhook POST per SNS record.

It imports requests at module level and reads the webhook URL from ``WEBHOOK_URL``; alarms
get a title, a link and two fields, anything else a truncated dump.
"""

import json
import logging
import os
from typing import Any

import requests

BASE_CW_URL = "https://console.aws.amazon.com/cloudwatch/home"
REGION = "us-east-1"
AVATAR = "https://a0.awsstatic.com/libra-css/images/logos/aws_logo_smile_1200x630.png"


def parse_sns_message(message: dict[str, Any]) -> dict[str, Any]:
    title, description = "CloudWatch Alert!", ""
    if message.get("Trigger"):
        name = message["AlarmName"]
        fields = [
            {"name": "Description", "value": message["AlarmDescription"], "inline": False},
            {"name": "Event", "value": message["NewStateReason"], "inline": False},
        ]
        url = f"{BASE_CW_URL}?region={REGION}#alarmsV2:alarm/{name}?"
        description = f"A [cloudwatch alarm]({url}) has posted to the SNS notification channel"
        title = f"CloudWatch Alert - {name}!"
    else:
        logging.error("Unparsed message: %s", message)
        fields = [{"name": "Something non-parseable happened...check the logs", "value": json.dumps(message)[:100]}]
    embed = {"color": 15610675, "title": title, "description": description, "fields": fields}
    return {"username": "AWS", "avatar_url": AVATAR, "embeds": [embed]}


def lambda_handler(event: dict[str, Any], _context: Any) -> None:
    webhook_url = os.environ["WEBHOOK_URL"]
    for record in event.get("Records", []):
        payload = parse_sns_message(json.loads(record["Sns"]["Message"]))
        # No timeout, as in the seed.
        response = requests.post(webhook_url, data=json.dumps(payload), headers={"content-type": "application/json"})  # noqa: S113
        logging.info("Discord response: %s", response.status_code)
