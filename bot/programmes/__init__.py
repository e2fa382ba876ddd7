"""Programmes on a calendar: phases, announcements, the scheduler, team channels."""
