# -*- coding: utf-8 -*-
# Copyright: (c) 2026, lisyoen <lisyoen@gmail.com>
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The name llm_api_probe imports; the health runner drives run_probe() with its own module object."""


class AnsibleModule(object):
    def __init__(self, *args, **kwargs):
        raise RuntimeError('the health timer does not run llm_api_probe as an Ansible module')
