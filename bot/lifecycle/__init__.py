"""A project's life after the request: one state machine (states.py), the records of
its second half and the services that write them (service.py)."""
