"""Who may use the workspace through the team server: users, their tokens, their roles.

``gyre.actors`` says who is acting and checks roles; this room keeps the people and tokens
behind it (:mod:`gyre.access.users`, :mod:`gyre.access.tokens`).
"""
