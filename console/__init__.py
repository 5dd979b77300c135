"""The web console for warehouse staff, support agents and administrators (issue 7).

Server-rendered pages over the services' HTTP APIs: it signs people in, forwards their signed
token on every call, and keeps no business state of its own.
"""
