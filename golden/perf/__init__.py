"""Performance figures from the golden side: the event-driven model of the
accelerator's cycles (:mod:`.perfmodel`, exact against the RTL)."""
