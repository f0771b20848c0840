"""Each user's private calendar feed (iCalendar) of their planned visits, meetings and tasks."""
