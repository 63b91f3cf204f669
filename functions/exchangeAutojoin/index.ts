/** exchangeAutojoin: an organisation API key for a 1-hour JWT (aud `autojoin`). */
import { http } from '@google-cloud/functions-framework';
import { exchangeFunction } from '../../shared/exchange/wiring';

http('exchangeAutojoin', exchangeFunction('exchangeAutojoin', 'autojoin'));
