"""Failure drills: processes killed with SIGKILL at chosen points, a full disk, sources down."""
