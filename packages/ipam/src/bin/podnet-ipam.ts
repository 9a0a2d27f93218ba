#!/usr/bin/env node
import { runPlugin } from '@podnet/cni-spec';
import { createIpamPlugin } from '../plugin.js';

void runPlugin(createIpamPlugin());
