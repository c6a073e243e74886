"""Data sources, one file each. ``base`` holds the interfaces they implement."""
