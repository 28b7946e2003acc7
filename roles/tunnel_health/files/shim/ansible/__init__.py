# A stand-in for the few names lisyoen.frp's probe code imports from ansible-core, so that the health
# timer runs that code on a host without Ansible (see ../../tunnel_health.py). Not ansible-core.
