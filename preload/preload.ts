// The preload script: exposes window.dman and nothing else (contextIsolation + sandbox).
import { contextBridge, ipcRenderer } from 'electron';
import { exposeDmanApi } from './exposeDmanApi.js';

exposeDmanApi(contextBridge, ipcRenderer);
