"""The Faust stream worker: validates events, matches campaigns, keeps exact tallies."""
