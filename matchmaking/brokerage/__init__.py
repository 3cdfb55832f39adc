"""B2B brokerage days inside an event: marketplace, meeting requests, the meeting schedule."""
