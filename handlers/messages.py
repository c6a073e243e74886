"""User-facing strings in one place, so that wording stays consistent and translatable."""

EMPTY_INPUT = "Ask me something, or type `help` to see what I can do."
UNKNOWN_COMMAND = "I don't know the command `{name}`.{suggestion} Type `help` for the list."
DID_YOU_MEAN = " Did you mean `{name}`?"
HANDLER_FAILED = (
    "Something went wrong while running `{command}` (error {error_id}). "
    "The details are in Vigil's log under that id."
)
NOT_AUTHORIZED = (
    "Sorry, `{command}` changes state and is limited to the people, roles and channels named "
    "under `access` in channels.yml. Ask an admin to add you, or ask someone on call."
)
TOO_LONG = (
    "That message is {length:,} characters; I read at most {limit:,}. Please shorten it "
    "(a pasted log is better asked about by its service and time)."
)
GARBLED_INPUT = "I couldn't read that. Ask a question, or type `help` to see what I can do."
RATE_LIMITED = "You're asking faster than I answer well; please wait {seconds}s and try again."
NO_TELEMETRY = "I have no live metrics source yet: set PROMETHEUS_URL in .env, or try `vigil demo`."
ASK_USAGE = "Usage: `ask QUESTION`, for example `ask why is checkout slow?`"
HELP_HEADER = "Vigil answers from your own metrics, logs, traces, runbooks and incidents."
HELP_FOOTER = "Type `help COMMAND` for details. You can also just ask a question."
UNKNOWN_HELP_TOPIC = "There is no command `{name}`. Type `help` for the list."
STORE_UNAVAILABLE = "I can't read the knowledge store right now: {reason}"
