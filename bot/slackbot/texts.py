"""What the Slack front says to users itself (everything else comes from the handlers)."""

WORKING = "Working on `{text}`…"
RESTARTING = "Vigil is restarting; please try again in a minute."
NOT_POSTED = "I couldn't post the answer here ({why}).{hint}"
SLACK_SAID = "Slack said `{error}`"
URL_REFUSED = "the response URL of this request did not take it"
UNREACHABLE = "Slack did not answer"
HINTS = {
    "not_in_channel": " Invite me with `/invite @vigil`, or ask me in a direct message.",
    "channel_not_found": " Invite me to the channel, or ask me in a direct message.",
    "is_archived": " This channel is archived.",
    "ratelimited": " Slack is rate-limiting me; please try again shortly.",
}
