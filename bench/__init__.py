"""`make bench`: seeding at scale, floor views, and the load driver."""
