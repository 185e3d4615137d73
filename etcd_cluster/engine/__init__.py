"""The survey/converge engine: one survey per member, a plan, operations that carry it out."""
