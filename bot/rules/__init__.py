"""The rules of a project's life as data, below every service: the states, their labels
and transitions (states.py), and what makes hours, feedback and agreements valid
(records.py). The services that act on them live in bot/lifecycle/."""
