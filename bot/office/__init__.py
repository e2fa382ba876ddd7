"""The programme office: exports, targets against actuals, the dashboard's data and the
impact report. Platform-neutral: a CLI command, a Slack command or the App Home calls
these and only renders or uploads what they return."""
