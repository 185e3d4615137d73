"""Who is a member: the inventory is the desired membership; learners join, members leave."""
