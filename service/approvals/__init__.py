"""Four-eyes approvals (design section 4): one staff member requests a sensitive action on a tip,
a different supervisor in the tip's audience approves or rejects it, and only then is it carried
out. models.py holds the request rows, service.py the rules. Imports service.* and crypto only.
"""
