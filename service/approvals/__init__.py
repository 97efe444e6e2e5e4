"""Four-eyes approvals (design section 4): one staff member requests a sensitive action on a tip,
a different supervisor in the tip's audience approves or rejects it, and only then is it carried
out. Imports service.* and crypto only.

- models.py (models): the request rows.
- service.py (service): pending lists, deciding and carrying out.
- requests.py (service): filing a request.
- oversight.py (service): oversight deciding closures nobody else can.
- contested.py (service): contested closures shown to oversight, and their reroute requests.
"""
