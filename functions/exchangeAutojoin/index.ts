/** exchangeAutojoin: an organisation API key for a 1-hour JWT (aud `autojoin`). */
import { http } from '@google-cloud/functions-framework';
import { runtime } from '../../shared/exchange/wiring';

http('exchangeAutojoin', runtime().exchangeHandler('exchangeAutojoin', 'autojoin'));
